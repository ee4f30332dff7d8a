//! Leader election on a coordination.k8s.io Lease: two replicas never act
//! at once. (Filled in by the leader-election work.)
