//! The vault key and the sealing of token values: XChaCha20-Poly1305 with a
//! random 24-byte nonce per value per write.
//!
//! Keys are held in a `Keyring` by key id: the active key (`vault.key`, id
//! `vault.key_id`, default `k1`) seals every new record; older keys
//! (`vault.old_keys`) still open records sealed with them until a rotation
//! (VaultService.RotateKey) has re-sealed every record with the active key.
//! Records carry the id of the key that sealed them.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore as _;
use zeroize::Zeroizing;

use super::VaultError;
use crate::config::{env_var, read_secret_file, EnvSource, VaultConfig};
use crate::secret::Secret;
pub(crate) use crate::secret::VaultKey;

/// The id of the active key when `vault.key_id` is empty.
pub(super) const CURRENT_KEY_ID: &str = "k1";

/// Bytes in a nonce.
pub(super) const NONCE_LEN: usize = 24;

/// The keys a vault can open records with, and the one it seals with.
pub(super) struct Keyring {
    current: String,
    /// (key id, cipher); the cipher wipes its key on drop.
    keys: Vec<(String, XChaCha20Poly1305)>,
}

/// A sealed value.
pub(super) struct Sealed {
    pub(super) key_id: String,
    pub(super) nonce: [u8; NONCE_LEN],
    pub(super) ciphertext: Vec<u8>,
}

/// Why a sealed value did not open.
pub(super) enum OpenError {
    /// No key of that id is loaded.
    UnknownKey,
    /// A wrong key, or a changed ciphertext, nonce or associated data: AEAD
    /// cannot tell these apart.
    Rejected,
}

// === impl Keyring ===

impl Keyring {
    /// A keyring of one key.
    pub(super) fn single(id: &str, key: &VaultKey) -> Self {
        let cipher = XChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(key.0.as_slice()));
        Self {
            current: id.to_string(),
            keys: vec![(id.to_string(), cipher)],
        }
    }

    /// The keys the configuration names: the active key from
    /// `GRAPH_GATEWAY_VAULT_KEY`, else `vault.key_file`, else `vault.key`,
    /// with id `vault.key_id`; plus `vault.old_keys` for reading.
    pub(super) fn from_config(cfg: &VaultConfig, env: &dyn EnvSource) -> Result<Self, VaultError> {
        let var = env_var("vault.key");
        let (source, secret) = if let Some(value) = env
            .var(&var)
            .map(Zeroizing::new)
            .filter(|v| !v.trim().is_empty())
        {
            (var.clone(), Secret::new(value.as_str()))
        } else if let Some(path) = &cfg.key_file {
            (
                "vault.key_file".to_string(),
                read_secret_file(path)
                    .map_err(|e| VaultError::Key(format!("vault.key_file: {e}")))?,
            )
        } else if let Some(key) = &cfg.key {
            ("vault.key".to_string(), key.clone())
        } else {
            let file = cfg
                .file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            return Err(VaultError::Key(format!(
                "the vault file {file} is encrypted and no key is configured: set {var} \
                 (or vault.key_file, or vault.key) to 32 random bytes, base64 (openssl rand -base64 32)"
            )));
        };
        crate::secret::remember(&secret);
        let key =
            VaultKey::parse(&secret).map_err(|e| VaultError::Key(format!("{source}: {e}")))?;
        let id = if cfg.key_id.is_empty() {
            CURRENT_KEY_ID
        } else {
            cfg.key_id.as_str()
        };
        let mut ring = Self::single(id, &key);
        for (i, old) in cfg.old_keys.0.iter().enumerate() {
            let at = format!("vault.old_keys[{i}] ({})", old.id);
            let secret = match (&old.key, &old.key_file) {
                (Some(key), _) => key.clone(),
                (None, Some(path)) => {
                    read_secret_file(path).map_err(|e| VaultError::Key(format!("{at}: {e}")))?
                }
                (None, None) => {
                    return Err(VaultError::Key(format!("{at}: needs key_file (or key)")))
                }
            };
            crate::secret::remember(&secret);
            let key =
                VaultKey::parse(&secret).map_err(|e| VaultError::Key(format!("{at}: {e}")))?;
            ring.add(&old.id, &key)?;
        }
        Ok(ring)
    }

    /// Adds a key that opens records (never seals them).
    pub(super) fn add(&mut self, id: &str, key: &VaultKey) -> Result<(), VaultError> {
        if self.keys.iter().any(|(known, _)| known == id) {
            return Err(VaultError::Key(format!(
                "key id {id:?} is configured twice"
            )));
        }
        let cipher = XChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(key.0.as_slice()));
        self.keys.push((id.to_string(), cipher));
        Ok(())
    }

    /// The id new records are sealed with.
    pub(super) fn current_id(&self) -> &str {
        &self.current
    }

    fn cipher(&self, id: &str) -> Option<&XChaCha20Poly1305> {
        self.keys
            .iter()
            .find(|(key_id, _)| key_id == id)
            .map(|(_, cipher)| cipher)
    }

    /// Seals `plaintext` with the current key, bound to `aad`.
    pub(super) fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Sealed, VaultError> {
        let cipher = self.cipher(&self.current).ok_or_else(|| {
            VaultError::Key(format!("current key {:?} is not loaded", self.current))
        })?;
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| VaultError::Key("encryption failed".to_string()))?;
        Ok(Sealed {
            key_id: self.current.clone(),
            nonce,
            ciphertext,
        })
    }

    /// Opens a sealed value.
    pub(super) fn open(
        &self,
        key_id: &str,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, OpenError> {
        let cipher = self.cipher(key_id).ok_or(OpenError::UnknownKey)?;
        cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| OpenError::Rejected)
    }
}
