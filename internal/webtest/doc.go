// Package webtest drives the dashboard that every node serves in a real,
// headless Chromium against a real three-node consortium seeded with the
// demo story: it logs in, visits every page, checks what each shows and
// what it must not show, verifies a receipt in the page, and saves a
// screenshot of each page under artifacts/screenshots.
//
// The tests need Chromium (CHARTA_CHROMIUM, or chromium on the PATH). They
// skip without it unless CHARTA_REQUIRE_BROWSER=1.
package webtest
