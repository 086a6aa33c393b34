package provisioning

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
)

// Sealer encrypts stored credentials with AES-256-GCM. The record key is the
// additional data, so a sealed password cannot be moved to another record.
type Sealer struct{ aead cipher.AEAD }

// NewSealer returns a Sealer for a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("credentials key must be 32 bytes, not %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// ParseKey decodes CREDENTIALS_KEY: base64 (standard or URL, padded or not) of 32 bytes.
func ParseKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) != 32 {
				return nil, fmt.Errorf("credentials key must decode to 32 bytes, not %d", len(k))
			}
			return k, nil
		}
	}
	return nil, errors.New("credentials key is not base64")
}

// Seal encrypts plaintext for the record key.
func (s *Sealer) Seal(recordKey, plaintext string) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return s.aead.Seal(nonce, nonce, []byte(plaintext), []byte(recordKey)), nil
}

// Open decrypts what Seal returned for the same record key.
func (s *Sealer) Open(recordKey string, sealed []byte) (string, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return "", errors.New("sealed credentials too short")
	}
	pt, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(recordKey))
	if err != nil {
		return "", errors.New("sealed credentials do not open with this key")
	}
	return string(pt), nil
}
