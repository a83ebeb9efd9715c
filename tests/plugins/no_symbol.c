/* A shared object without the backend table: the loader must say so. */
int mxd_not_a_backend(void);
int mxd_not_a_backend(void) { return 0; }
