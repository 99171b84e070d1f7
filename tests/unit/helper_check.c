/* helper_check: the shared unit-test main(); see helper_check.h. */
#include "helper_check.h"

#include <stdlib.h>

int tcheck_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	/* CK_ENV is CK_NORMAL unless CK_VERBOSITY says otherwise (CK_VERBOSITY=verbose lists
	 * every test), so ctest output stays as it was. */
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
