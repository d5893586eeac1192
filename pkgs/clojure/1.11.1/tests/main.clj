(ns main
  (:require [helper :refer [word]]))
(println (word))
