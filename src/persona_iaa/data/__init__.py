"""Files -> records -> datasets: dataset formats, the safe image opener and transforms."""
