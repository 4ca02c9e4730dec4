// Command x509verify checks a certificate chain with Go's crypto/x509, an
// implementation independent of OpenSSL and of Python's cryptography.
//
//	go run x509verify.go BUNDLE CHAIN LEAF DNS_NAME
//
// The leaf must verify for DNS_NAME with both the serverAuth and the clientAuth
// extended key usages. It prints "ok" and exits 0, or prints the error and exits 1.
package main

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
)

func readPool(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(data)
	return pool, nil
}

func readLeaf(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s holds no PEM block", path)
	}
	return x509.ParseCertificate(block.Bytes)
}

func verify(bundlePath, chainPath, leafPath, dnsName string) error {
	roots, err := readPool(bundlePath)
	if err != nil {
		return err
	}
	intermediates, err := readPool(chainPath)
	if err != nil {
		return err
	}
	leaf, err := readLeaf(leafPath)
	if err != nil {
		return err
	}
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		options := x509.VerifyOptions{
			DNSName:       dnsName,
			Roots:         roots,
			Intermediates: intermediates,
			KeyUsages:     []x509.ExtKeyUsage{usage},
		}
		if _, err := leaf.Verify(options); err != nil {
			return err
		}
	}
	return nil
}

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: x509verify BUNDLE CHAIN LEAF DNS_NAME")
		os.Exit(2)
	}
	if err := verify(os.Args[1], os.Args[2], os.Args[3], os.Args[4]); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println("ok")
}
