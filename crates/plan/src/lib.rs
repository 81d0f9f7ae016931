//! msf-plan (being written).
