//! msf-web (being written).
