import Data.List (intercalate)
import System.Environment (getArgs)

main :: IO ()
main = getArgs >>= putStrLn . intercalate "|"
