package benc

import (
	"bytes"
	"slices"
)

// Scan validates that data is exactly one bencoded value within lim (see the package
// documentation for the rules). It never recurses and allocates only its own small
// stack, so it is safe on any input.
func Scan(data []byte, lim Limits) error {
	_, err := scan(data, lim, false)
	return err
}

// ScanPrefix validates the bencoded value at the start of data and returns its length;
// bytes after it are not examined. BEP 9 ut_metadata "data" messages are a dictionary
// followed by raw piece bytes. lim.MaxSize bounds the value, not len(data).
func ScanPrefix(data []byte, lim Limits) (n int, err error) {
	return scan(data, lim, true)
}

// frame is one open list or dictionary on the scanner's explicit stack.
type frame struct {
	dict     bool
	start    int  // offset of the 'l' or 'd'
	wantKey  bool // dictionary: the next token is a key (or the closing 'e')
	haveKey  bool // dictionary: lastKey holds the previous key
	unsorted bool // dictionary: some key was out of order; look for duplicates at 'e'
	lastKey  span
	keysBase int // index in keys of this dictionary's first key, once unsorted
}

// span is the contents [start, stop) of a dictionary key.
type span struct{ start, stop int }

// appendInt grows by doubling, so the key buffer of a huge unsorted dictionary costs
// at most about twice its final size in total allocation (append grows large slices
// by 1.25, which sums to about five times).
func appendInt(s []int, v int) []int {
	if len(s) == cap(s) {
		grown := make([]int, len(s), max(16, 2*cap(s)))
		copy(grown, s)
		s = grown
	}
	return append(s, v)
}

func scan(data []byte, lim Limits, prefix bool) (int, error) {
	lim = lim.withDefaults()
	end := len(data)
	if end > lim.MaxSize {
		if !prefix {
			return 0, limitErr(0, "input is %d bytes, over the %d-byte size limit", len(data), lim.MaxSize)
		}
		end = lim.MaxSize
	}
	var (
		stack  = make([]frame, 0, 8)
		keys   []int // key token offsets of every open unsorted dictionary, innermost last
		tokens int
		pos    int
	)
	for {
		if pos >= end {
			if len(stack) > 0 {
				top := stack[len(stack)-1]
				what := "list"
				if top.dict {
					what = "dictionary"
				}
				if end < len(data) {
					return 0, limitErr(end, "%s opened at offset %d reaches past the %d-byte size limit", what, top.start, end)
				}
				return 0, endErr(end, "unexpected end of input in %s opened at offset %d", what, top.start)
			}
			return 0, endErr(pos, "unexpected end of input, want a value")
		}
		c := data[pos]
		var top *frame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}

		if top != nil && c == 'e' {
			if top.dict {
				if !top.wantKey {
					return 0, syntaxErr(pos, "dictionary key %s has no value", quoteKey(data[top.lastKey.start:top.lastKey.stop]))
				}
				if top.unsorted {
					if err := checkDuplicates(data, keys[top.keysBase:]); err != nil {
						return 0, err
					}
				}
				keys = keys[:top.keysBase]
			}
			stack = stack[:len(stack)-1]
			pos++
			if len(stack) == 0 {
				break
			}
			if parent := &stack[len(stack)-1]; parent.dict {
				parent.wantKey = true
			}
			continue
		}

		tokens++
		if tokens > lim.MaxTokens {
			return 0, limitErr(pos, "more than %d tokens", lim.MaxTokens)
		}

		if top != nil && top.dict && top.wantKey {
			if !isDigit(c) {
				return 0, syntaxErr(pos, "dictionary key must be a string, got %q", c)
			}
			start, stop, err := scanString(data, pos, end)
			if err != nil {
				return 0, err
			}
			key := span{start, stop}
			if top.haveKey {
				switch cmp := bytes.Compare(data[top.lastKey.start:top.lastKey.stop], data[start:stop]); {
				case cmp == 0:
					return 0, syntaxErr(pos, "duplicate dictionary key %s", quoteKey(data[start:stop]))
				case cmp > 0:
					if lim.SortedKeys {
						return 0, syntaxErr(pos, "dictionary key %s is out of order", quoteKey(data[start:stop]))
					}
					if !top.unsorted {
						top.unsorted = true
						keys = appendKeys(keys, data, top.start, pos)
					}
				}
			}
			top.lastKey, top.haveKey, top.wantKey = key, true, false
			if top.unsorted {
				keys = appendInt(keys, pos)
			}
			pos = stop
			continue
		}

		switch {
		case c == 'i':
			next, err := scanInt(data, pos, end)
			if err != nil {
				return 0, err
			}
			pos = next
		case isDigit(c):
			_, stop, err := scanString(data, pos, end)
			if err != nil {
				return 0, err
			}
			pos = stop
		case c == 'l' || c == 'd':
			if len(stack) >= lim.MaxDepth {
				return 0, limitErr(pos, "nesting deeper than %d", lim.MaxDepth)
			}
			stack = append(stack, frame{dict: c == 'd', start: pos, wantKey: true, keysBase: len(keys)})
			pos++
			continue
		default:
			return 0, syntaxErr(pos, "unexpected byte %q, want a value", c)
		}

		if top == nil {
			break // a string or integer at the top level
		}
		if top.dict {
			top.wantKey = true
		}
	}
	if !prefix && pos != len(data) {
		return 0, syntaxErr(pos, "%d trailing bytes after the value", len(data)-pos)
	}
	return pos, nil
}

// checkDuplicates looks for a repeated key in one unsorted dictionary, given the
// offsets of its key tokens, which it sorts in place. Sorted dictionaries never get
// here: strictly increasing keys cannot repeat.
func checkDuplicates(data []byte, keys []int) error {
	key := func(tok int) []byte {
		s, e := parseLen(data, tok)
		return data[s:e]
	}
	slices.SortFunc(keys, func(a, b int) int {
		if c := bytes.Compare(key(a), key(b)); c != 0 {
			return c
		}
		return a - b
	})
	for i := 1; i < len(keys); i++ {
		if k := key(keys[i]); bytes.Equal(key(keys[i-1]), k) {
			return syntaxErr(keys[i], "duplicate dictionary key %s", quoteKey(k))
		}
	}
	return nil
}

// appendKeys collects the key offsets of the dictionary opened at data[start] up to the
// key token at data[stop], when the dictionary turns out unsorted. Sorted dictionaries
// store no keys, so the common case costs no memory; everything before stop has been
// scanned, so skip can walk it.
func appendKeys(keys []int, data []byte, start, stop int) []int {
	for i := start + 1; i < stop; {
		keys = appendInt(keys, i)
		_, e := parseLen(data, i)
		i = skip(data, e)
	}
	return keys
}
