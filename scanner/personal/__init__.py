"""Personal data in free text: Swedish personal identity numbers (``personnummer``) and phone
numbers (``phone``), found and masked. Depends on nothing else in nasscan: classification
(``scanner.classify``) and masking (``scanner.masking``) both build on it."""
