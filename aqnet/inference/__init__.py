"""Using a finished run: rebuild it from its own saved config (:mod:`.loading`), score it on a split
(:mod:`.evaluate`, behind ``aqnet-eval``) and write forecasts as CF datasets (:mod:`.predict`, behind
``aqnet-predict``). See docs/evaluation.md."""
