from django.apps import AppConfig


class PredictionsConfig(AppConfig):
    name = "apps.predictions"
    label = "predictions"

    def ready(self) -> None:
        # The catalog shows a model's examples (predictions) without importing this app,
        # which sits above it: it is told here which they are and how the API shows one.
        from apps.catalog import examples
        from apps.predictions.models import Prediction
        from apps.predictions.serializers import prediction_json

        examples.register(
            examples.ExampleSource(
                succeeded=lambda: (
                    Prediction.objects.filter(is_example=True, status=Prediction.Status.SUCCEEDED)
                    .select_related("version", "model__owner")
                    .order_by("-created_at", "-pk")
                ),
                as_json=prediction_json,
            )
        )
