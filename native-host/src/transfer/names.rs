//! Safe file names for downloads (being written).
