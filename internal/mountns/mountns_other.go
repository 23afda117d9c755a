//go:build !linux

package mountns

func rerun() (int, bool) { return 0, false }
