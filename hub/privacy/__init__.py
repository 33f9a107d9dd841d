"""Privacy: consent records and notices (hub/privacy/consent*), subject export and erasure,
retention per data class and the processing record (issue 17)."""
