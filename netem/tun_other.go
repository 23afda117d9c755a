//go:build !linux

package netem

import (
	"context"
	"errors"
)

// ListenTUN needs Linux's TUN devices and network namespaces.
func (c Config) ListenTUN(ctx context.Context, t TUN) (*Relay, error) {
	return nil, errors.New("tun link: needs Linux")
}
