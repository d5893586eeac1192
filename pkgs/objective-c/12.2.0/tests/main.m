#import "Helper.h"
#include <stdio.h>

int main(void)
{
	puts([Helper word]);
	return 0;
}
