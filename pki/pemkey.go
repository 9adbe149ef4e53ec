package pki

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
)

// Encrypted PEM private keys: PKCS#8 "ENCRYPTED PRIVATE KEY" under PBES2
// (what openssl pkcs8 -topk8, openssl genpkey -aes256 and keytool-to-PEM
// exports write), and the legacy OpenSSL "Proc-Type: 4,ENCRYPTED" form.

const pbes2Iterations = 600_000 // OWASP's 2023 figure for PBKDF2-HMAC-SHA-256

// EncryptPrivateKeyPEM returns key as a PKCS#8 "ENCRYPTED PRIVATE KEY" PEM
// block under PBES2 (PBKDF2-HMAC-SHA-256, AES-256-CBC), as OpenSSL 3 writes
// by default.
func EncryptPrivateKeyPEM(key crypto.Signer, password string) ([]byte, error) {
	if key == nil {
		return nil, fmt.Errorf("encrypt private key: %w", ErrNoPrivateKey)
	}
	plain, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encrypt private key: %w", err)
	}
	salt, iv := make([]byte, 16), make([]byte, aes.BlockSize)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	if _, err := rand.Read(iv); err != nil {
		return nil, err
	}
	k, err := pbkdf2.Key(sha256.New, password, salt, pbes2Iterations, 32)
	if err != nil {
		return nil, fmt.Errorf("encrypt private key: %w", err)
	}
	block, _ := aes.NewCipher(k)
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	buf := append(plain, bytesRepeat(byte(pad), pad)...)
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(buf, buf)

	ivDER, _ := asn1.Marshal(iv)
	kdfParams, err := asn1.Marshal(pbkdf2Params{Salt: salt, IterationCount: pbes2Iterations,
		PRF: algorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}, Parameters: asn1.NullRawValue}})
	if err != nil {
		return nil, err
	}
	params, err := asn1.Marshal(pbes2Params{
		KeyDerivationFunc: algorithmIdentifier{Algorithm: oidPBKDF2, Parameters: asn1.RawValue{FullBytes: kdfParams}},
		EncryptionScheme:  algorithmIdentifier{Algorithm: oidAES256CBC, Parameters: asn1.RawValue{FullBytes: ivDER}},
	})
	if err != nil {
		return nil, err
	}
	der, err := asn1.Marshal(encryptedPrivateKeyInfo{
		Algorithm:     algorithmIdentifier{Algorithm: oidPBES2, Parameters: asn1.RawValue{FullBytes: params}},
		EncryptedData: buf,
	})
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemEncryptedPKCS8Key, Bytes: der}), nil
}

func bytesRepeat(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

const reencryptKeyFix = "Re-encrypt the key with a modern cipher: openssl pkcs8 -topk8 -v2 aes-256-cbc -in KEY.pem -out KEY-aes.pem"

// decryptPEMKey decrypts an encrypted PEM key block with password. A wrong
// password is ErrWrongPassword; an empty one ErrEncryptedKey.
func decryptPEMKey(block *pem.Block, password string) (crypto.Signer, error) {
	if password == "" {
		return nil, &KeystoreError{Kind: ErrEncryptedKey, Format: FormatPEM, Detail: "and no password was given",
			Fix: "Set MESH_KEYSTORE_PASSWORD (or MESH_KEYSTORE_PASSWORD_FILE) to the key's password."}
	}
	if block.Type == pemEncryptedPKCS8Key {
		return decryptPKCS8(block.Bytes, password)
	}
	//lint:ignore SA1019 legacy PEM encryption is insecure, which is why we only read it, to help users move off it.
	der, err := x509.DecryptPEMBlock(block, []byte(password)) //nolint:staticcheck
	if err != nil {
		if errors.Is(err, x509.IncorrectPasswordError) {
			return nil, &KeystoreError{Kind: ErrWrongPassword, Format: FormatPEM, Detail: "the legacy-encrypted PEM key did not decrypt"}
		}
		return nil, &KeystoreError{Kind: ErrUnsupported, Format: FormatPEM, Detail: "legacy PEM encryption: " + err.Error(), Fix: reencryptKeyFix, Err: err}
	}
	key, err := parsePrivateKeyDER(block.Type, der)
	if err != nil {
		// Legacy PEM encryption has no integrity check: a wrong password
		// shows as garbage that does not parse.
		return nil, &KeystoreError{Kind: ErrWrongPassword, Format: FormatPEM, Detail: "the decrypted PEM key does not parse"}
	}
	return key, nil
}

func decryptPKCS8(der []byte, password string) (crypto.Signer, error) {
	var epki encryptedPrivateKeyInfo
	if rest, err := asn1.Unmarshal(der, &epki); err != nil || len(rest) > 0 {
		return nil, &KeystoreError{Kind: ErrUnknownFormat, Format: FormatPEM, Detail: "the ENCRYPTED PRIVATE KEY block is not PKCS#8", Err: err}
	}
	if !epki.Algorithm.Algorithm.Equal(oidPBES2) {
		return nil, &KeystoreError{Kind: ErrUnsupported, Format: FormatPEM,
			Detail: "PKCS#8 key encrypted with " + algorithmName(epki.Algorithm.Algorithm) + "; meshdoctor reads PBES2", Fix: reencryptKeyFix}
	}
	var params pbes2Params
	var kdf pbkdf2Params
	unsupported := func(what string) error {
		return &KeystoreError{Kind: ErrUnsupported, Format: FormatPEM, Detail: "PKCS#8 key: " + what, Fix: reencryptKeyFix}
	}
	if _, err := asn1.Unmarshal(epki.Algorithm.Parameters.FullBytes, &params); err != nil {
		return nil, unsupported("unreadable PBES2 parameters")
	}
	if !params.KeyDerivationFunc.Algorithm.Equal(oidPBKDF2) {
		return nil, unsupported("key derivation " + algorithmName(params.KeyDerivationFunc.Algorithm))
	}
	if _, err := asn1.Unmarshal(params.KeyDerivationFunc.Parameters.FullBytes, &kdf); err != nil {
		return nil, unsupported("unreadable PBKDF2 parameters")
	}
	if kdf.IterationCount < 1 || kdf.IterationCount > maxKDFIterations {
		return nil, unsupported(fmt.Sprintf("PBKDF2 iteration count %d", kdf.IterationCount))
	}
	prf := map[string]func() hash.Hash{
		"1.2.840.113549.2.7": sha1.New, "1.2.840.113549.2.8": sha256.New224, "1.2.840.113549.2.9": sha256.New,
		"1.2.840.113549.2.10": sha512.New384, "1.2.840.113549.2.11": sha512.New,
	}
	prfOID := oidHMACWithSHA1.String()
	if len(kdf.PRF.Algorithm) > 0 {
		prfOID = kdf.PRF.Algorithm.String()
	}
	h, ok := prf[prfOID]
	if !ok {
		return nil, unsupported("PBKDF2 with " + prfOID)
	}
	var keyLen int
	var newCipher func([]byte) (cipher.Block, error)
	switch enc := params.EncryptionScheme.Algorithm; {
	case enc.Equal(oidAES128CBC):
		keyLen, newCipher = 16, aes.NewCipher
	case enc.Equal(oidAES192CBC):
		keyLen, newCipher = 24, aes.NewCipher
	case enc.Equal(oidAES256CBC):
		keyLen, newCipher = 32, aes.NewCipher
	case enc.Equal(oidDESEDE3CBC):
		keyLen, newCipher = 24, des.NewTripleDESCipher
	default:
		return nil, unsupported("cipher " + algorithmName(enc))
	}
	var iv []byte
	if _, err := asn1.Unmarshal(params.EncryptionScheme.Parameters.FullBytes, &iv); err != nil {
		return nil, unsupported("unreadable IV")
	}
	k, err := pbkdf2.Key(h, password, kdf.Salt, kdf.IterationCount, keyLen)
	if err != nil {
		return nil, unsupported(err.Error())
	}
	block, err := newCipher(k)
	if err != nil {
		return nil, unsupported(err.Error())
	}
	bs := block.BlockSize()
	data := epki.EncryptedData
	if len(iv) != bs || len(data) == 0 || len(data)%bs != 0 {
		return nil, &KeystoreError{Kind: ErrTruncated, Format: FormatPEM, Detail: "the encrypted key's length is not a whole number of cipher blocks"}
	}
	plain := make([]byte, len(data))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, data)
	wrong := &KeystoreError{Kind: ErrWrongPassword, Format: FormatPEM, Detail: "the encrypted PEM key did not decrypt"}
	pad := int(plain[len(plain)-1])
	if pad == 0 || pad > bs {
		return nil, wrong
	}
	for _, b := range plain[len(plain)-pad:] {
		if int(b) != pad {
			return nil, wrong
		}
	}
	key, err := x509.ParsePKCS8PrivateKey(plain[:len(plain)-pad])
	if err != nil {
		return nil, wrong
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, unsupported(fmt.Sprintf("key type %T", key))
	}
	return signer, nil
}
