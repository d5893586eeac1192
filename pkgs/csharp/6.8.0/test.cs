public class Test
{
    public static void Main(string[] args)
    {
        System.Console.WriteLine("O" + "K");
    }
}
