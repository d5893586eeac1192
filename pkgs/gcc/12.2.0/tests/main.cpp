#include <iostream>
#include "helper.hpp"

int main()
{
	std::cout << helper::word() << std::endl;
}
