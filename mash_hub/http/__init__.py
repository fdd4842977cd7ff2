"""HTTP plumbing shared by the pages and the JSON API: the API's error shape, strict JSON
readers and the JSON body of a request. It knows no domain."""
