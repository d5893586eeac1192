public class Helper {
    static String word() {
        return "OK";
    }
}
