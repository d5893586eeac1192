#include <iostream>
#include <string>

int main()
{
	std::string s = "O";
	s += "K";
	std::cout << s << std::endl;
}
