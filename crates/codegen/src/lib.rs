//! msf-codegen (being written).
