package seal

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// maxKeyFileSize bounds what LoadOrCreateKeyFile reads; a few hundred keys fit comfortably.
const maxKeyFileSize = 64 << 10

// LoadOrCreateKeyFile returns the keyring in the key file at path, which holds keys in the form
// ParseKeys reads. If the file does not exist it generates one key, creates the parent directories
// (mode 0700) and the file (mode 0600), and reports created = true; callers should log that, since
// losing the file makes every sealed value unreadable.
//
// The file appears whole or not at all: the key is written to a temporary file in the same
// directory, then linked to path, which fails if path exists (the same guarantee as O_EXCL). So when
// two processes start at once, one creates the file and the other reads it, and neither can read a
// half-written file. Hard links are therefore required of the directory's file system.
//
// A key file that group or others can access, or that is executable, is refused with an error that
// names the fix (chmod 600), rather than trusted.
func LoadOrCreateKeyFile(path string) (kr *Keyring, created bool, err error) {
	kr, err = readKeyFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return kr, false, err
	}

	key := GenerateKey()
	defer clear(key)
	kr, err = NewKeyring(key)
	if err != nil {
		return nil, false, err
	}
	err = createKeyFile(path, []byte(EncodeKey(key)+"\n"))
	if errors.Is(err, fs.ErrExist) {
		// Another process created it between our read and our link: use theirs.
		kr, err = readKeyFile(path)
		return kr, false, err
	}
	if err != nil {
		return nil, false, err
	}
	return kr, true, nil
}

func readKeyFile(path string) (*Keyring, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("seal: key file: %w", err)
	}
	defer f.Close()
	// Stat the open file, not the path, so that the mode checked is that of the file read.
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("seal: key file: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("seal: key file %s is not a regular file", path)
	}
	if perm := info.Mode().Perm(); perm&^0o600 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("seal: key file %s has mode %04o, looser than 0600; run: chmod 600 %s", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	defer clear(data)
	if err != nil {
		return nil, fmt.Errorf("seal: key file %s: %w", path, err)
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("seal: key file %s: larger than %d bytes", path, maxKeyFileSize)
	}
	kr, err := ParseKeys(string(data))
	if err != nil {
		return nil, fmt.Errorf("seal: key file %s: %w", path, err)
	}
	return kr, nil
}

// createKeyFile writes data to a new file at path with mode 0600, failing with an error that
// wraps fs.ErrExist if path already exists.
func createKeyFile(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("seal: key file: %w", err)
	}
	// CreateTemp opens with O_EXCL and mode 0600.
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("seal: key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		tmp.Close()
		return fmt.Errorf("seal: key file: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("seal: key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("seal: key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("seal: key file: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("seal: key file: %w", err)
	}
	// Make the new directory entry durable too; a key lost in a crash loses every value sealed with
	// it. Some systems cannot sync a directory, so this is best effort.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
