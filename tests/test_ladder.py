

def test_every_registered_model_with_dropout_names_its_dropout_parameters_for_the_ladder():
    """The ladder reads ``dropout_parameters`` from the class (no table of model names): a new model with
    dropout declares which of its parameters carry it, and they are among its parameters."""
    from clv.models import model_class, model_names

    declared = {}
    for name in model_names("purchase"):
        cls = model_class(name)
        params = set(getattr(cls, "param_names", ()))
        assert set(cls.dropout_parameters) <= params, name
        declared[name] = cls.dropout_parameters
    assert declared["bgnbd"] == ("a", "b") and declared["pareto"] == ("s", "beta") and declared["nbd"] == ()
    assert declared["bgcnbd"] and declared["mbgcnbd"] and declared["ggomnbd"] == ("s",)
