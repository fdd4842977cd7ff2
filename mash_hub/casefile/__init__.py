"""A contact's case file: the contact page and the API's contact, composed from every
domain's part of one contact after one decided, audited read of the contact itself."""
