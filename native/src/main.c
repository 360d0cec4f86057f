/* gantry-helper entry point: placeholder until the plan executor lands. */
#include <stdio.h>
int main(void) { fputs("gantry-helper: not implemented yet\n", stderr); return 2; }
