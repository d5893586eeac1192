module helper;

string word()
{
    return "OK";
}
