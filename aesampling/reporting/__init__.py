"""What a report shows: summary tables, figures, and the spread of a protocol over seeds."""
