//go:build !linux

package engine

func adviseHuge([]byte) {}
