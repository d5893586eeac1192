#include "helper.hpp"

std::string helper::word()
{
	return "OK";
}
