// Package demo is the demo consortium's story: alpha trains foundation
// models, beta holds medical imaging data, gamma runs inference
// infrastructure. They register assets, cross-license them in a bundle,
// derive a model, grant exclusive hosting and a sublicence, share a GPU
// pool and meter a grant.
//
// `charta dev --demo` seeds it into a new dev consortium, and `charta
// bench` asks its check questions of it. Seed only chooses the proposals;
// the caller signs and submits them.
package demo
