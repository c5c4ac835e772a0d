"""The chains of Algorithm 1 (`reinjection`), their class-balanced collection (`class_balance`), the teacher's
labels of Algorithm 2 (`teacher`), and running them on several devices (`devices`)."""
