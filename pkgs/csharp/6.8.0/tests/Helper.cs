static class Helper
{
    public static string Word()
    {
        return "OK";
    }
}
