// Package portmap asks the local gateway to forward our listen port, so that
// peers behind the internet can connect to us: NAT-PMP (RFC 6886) first, then
// UPnP IGD (SSDP discovery, the device description, SOAP AddPortMapping on the
// WANIPConnection or WANPPPConnection service). Both TCP and UDP are mapped on
// the same port number, renewed at half their lifetime, and removed when the
// Mapper closes.
//
// Discovery is bounded (NAT-PMP: three tries within about 2 s; SSDP: one wait
// of SSDPWait) and quiet: a network without a gateway is normal, so it is
// logged at debug level only. Every reply is bounded (NAT-PMP: fixed sizes;
// SSDP: 2 KiB; XML: 64 KiB; HTTP: 3 s) and a description may only point to
// the host that answered the search.
package portmap
