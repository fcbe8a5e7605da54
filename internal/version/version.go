// Package version holds the build's version string, set by the linker
// (-X github.com/charta/charta/internal/version.Version=...).
package version

// Version is the version this binary was built from; "dev" for plain go build.
var Version = "dev"
