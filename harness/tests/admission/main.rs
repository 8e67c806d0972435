//! The embedded admission engine, called as a library: ClusterPolicy and
//! PolicyException (`cpol`), ImageValidatingPolicy, ValidatingPolicy and the CEL
//! PolicyException (`cel`), preconditions and conditions (`conditions`), and
//! image-reference matching (`matching`). One test binary: see ARCHITECTURE.md,
//! "Tests".

mod common;

mod cel;
mod conditions;
mod cpol;
mod matching;
