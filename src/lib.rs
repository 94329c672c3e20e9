//! libhyperclient
