package mesh

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// ReadSmallFile reads at most limit bytes of a regular file: a secret named
// by a *_FILE variable or a config's reference, or a config itself. What is
// wrong is said in plain words that follow the file's description ("the
// file it names is a directory"), never with the content, so a secret
// pasted where a path belongs is not echoed; /dev/zero cannot eat memory.
func ReadSmallFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, errors.New("does not exist")
	case errors.Is(err, fs.ErrPermission):
		return nil, errors.New("cannot be read (permission denied)")
	case err != nil:
		return nil, errors.New("cannot be opened")
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, errors.New("is a directory, not a file")
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, errors.New("cannot be read")
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("is larger than %d KiB", limit>>10)
	}
	return b, nil
}
