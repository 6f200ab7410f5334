//! Rack inventory: the CSV file that lists every node and its BMC.
