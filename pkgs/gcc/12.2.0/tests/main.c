#include <stdio.h>
#include "helper.h"

int main(void)
{
	puts(word());
	return 0;
}
