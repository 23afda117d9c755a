package metainfo

import (
	"fmt"

	"github.com/hyperblow/hyperblow/engine/internal/benc"
)

// fieldError names the field a problem is in, such as "info.files[3].path[1]".
type fieldError struct {
	field string
	msg   string
}

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

func errorf(field, format string, args ...any) error {
	return &fieldError{field: field, msg: fmt.Sprintf(format, args...)}
}

// The want* helpers read a field of a known type and report a missing or mistyped one.
// A missing field is the zero Value (kind benc.Invalid).

func wantKind(v benc.Value, k benc.Kind, field string) error {
	switch v.Kind() {
	case k:
		return nil
	case benc.Invalid:
		return errorf(field, "missing")
	default:
		return errorf(field, "want %s, got %s", k, v.Kind())
	}
}

func wantInt(v benc.Value, field string) (int64, error) {
	if err := wantKind(v, benc.Int, field); err != nil {
		return 0, err
	}
	n, _ := v.Int()
	return n, nil
}

func wantBytes(v benc.Value, field string) ([]byte, error) {
	if err := wantKind(v, benc.String, field); err != nil {
		return nil, err
	}
	b, _ := v.Bytes()
	return b, nil
}

// indexed formats "field[i]"; it is only called on the error path, so parsing 100k files
// does not format 100k field names.
func indexed(field string, i int) string { return fmt.Sprintf("%s[%d]", field, i) }

// size formats a byte count the way limits are written: 16 KiB, 64 MiB.
func size(n int64) string {
	switch {
	case n >= 1<<40 && n%(1<<40) == 0:
		return fmt.Sprintf("%d TiB", n>>40)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
