//! A model of a ZooKeeper 3.8 server (to be written).
