#![no_std]
//! msf-runtime (being written).
