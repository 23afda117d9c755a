package benc

import "math"

// maxLenDigits bounds the digits of a string length. 10^18 bytes exceeds any input, so
// a longer length can only be an error, and 18 digits cannot overflow a uint64.
const maxLenDigits = 18

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// scanString checks the string token at data[pos] (a digit) against data[:end] and
// returns the span of its contents. The length is compared with the bytes left before
// any caller could allocate for it. When end < len(data) the input was cut at the size
// limit, and a string that would fit in the whole input is a limit error.
func scanString(data []byte, pos, end int) (start, stop int, err error) {
	i := pos
	var n uint64
	for i < end && isDigit(data[i]) {
		if i-pos == maxLenDigits {
			return 0, 0, syntaxErr(pos, "string length has more than %d digits", maxLenDigits)
		}
		n = n*10 + uint64(data[i]-'0')
		i++
	}
	if i >= end {
		return 0, 0, truncated(data, end, "string length")
	}
	if data[i] != ':' {
		return 0, 0, syntaxErr(i, "string length: unexpected byte %q, want ':'", data[i])
	}
	if data[pos] == '0' && i-pos > 1 {
		return 0, 0, syntaxErr(pos, "string length %q has a leading zero", data[pos:i])
	}
	i++
	if rem := end - i; n > uint64(rem) {
		if end < len(data) && n <= uint64(len(data)-i) {
			return 0, 0, limitErr(pos, "string length %d reaches past the %d-byte size limit", n, end)
		}
		return 0, 0, endErr(pos, "string length %d exceeds %d remaining bytes", n, rem)
	}
	return i, i + int(n), nil
}

// scanInt checks the integer token at data[pos] ('i') and returns the offset after its
// 'e'. Only the canonical form is accepted: i0e, i7e, i-7e; not ie, i-e, i00e, i07e,
// i-0e, i+7e, or anything outside int64.
func scanInt(data []byte, pos, end int) (next int, err error) {
	i := pos + 1
	neg := i < end && data[i] == '-'
	if neg {
		i++
	}
	start := i
	var n uint64
	for i < end && isDigit(data[i]) {
		if i-start == 19 { // 20 digits are at least 10^19 > MaxInt64+1
			return 0, syntaxErr(pos, "integer overflows int64")
		}
		n = n*10 + uint64(data[i]-'0')
		i++
	}
	if i >= end {
		return 0, truncated(data, end, "integer")
	}
	if data[i] != 'e' {
		return 0, syntaxErr(i, "integer: unexpected byte %q", data[i])
	}
	digits := data[start:i]
	switch {
	case len(digits) == 0:
		return 0, syntaxErr(pos, "integer has no digits")
	case digits[0] == '0' && len(digits) > 1:
		return 0, syntaxErr(pos, "integer %q has a leading zero", data[pos+1:i])
	case neg && n == 0:
		return 0, syntaxErr(pos, "integer is negative zero")
	case !neg && n > math.MaxInt64, neg && n > math.MaxInt64+1:
		return 0, syntaxErr(pos, "integer %s overflows int64", data[pos+1:i])
	}
	return i + 1, nil
}

// truncated reports input that ends inside a token; when the end is the size limit
// rather than the real end, it is a limit error.
func truncated(data []byte, end int, what string) error {
	if end < len(data) {
		return limitErr(end, "%s reaches past the %d-byte size limit", what, end)
	}
	return endErr(end, "unexpected end of input in %s", what)
}

// parseInt decodes a token already checked by scanInt (without its 'i' and 'e').
func parseInt(digits []byte) int64 {
	neg := digits[0] == '-'
	if neg {
		digits = digits[1:]
	}
	var n uint64
	for _, c := range digits {
		n = n*10 + uint64(c-'0')
	}
	if neg {
		return -int64(n) // n == MaxInt64+1 wraps to MinInt64, which is right
	}
	return int64(n)
}

// parseLen decodes the length of a string token already checked by scanString and
// returns the span of its contents.
func parseLen(data []byte, pos int) (start, stop int) {
	n := 0
	for ; data[pos] != ':'; pos++ {
		n = n*10 + int(data[pos]-'0')
	}
	return pos + 1, pos + 1 + n
}
