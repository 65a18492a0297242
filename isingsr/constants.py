"""Physical constants of the square-lattice Ising model."""

import math

#: Critical inverse temperature of the square-lattice Ising model (J = 1),
#: beta_c = ln(1 + sqrt 2) / 2 (Kramers & Wannier 1941; Onsager 1944).
BETA_C = 0.5 * math.log(1.0 + math.sqrt(2.0))
